"""Runs Elastic's PostgreSQL connector (elastic/connectors) on the compat fixture and prints the
documents it would send, as its sink serializes them: the golden data of test/compat/golden.test.ts.

Run through scripts/golden-compat.sh, which loads the fixture and sets PYTHONPATH to a checkout of
elastic/connectors. Arguments: host port user password database schema rules.json
"""

import asyncio
import json
import logging
import sys

from connectors_sdk.config import DataSourceFrameworkConfig
from connectors_sdk.filtering.validation import Filter
from connectors_sdk.source import DataSourceConfiguration
from connectors.sources.postgresql import PostgreSQLDataSource
from elasticsearch.serializer import JsonSerializer

SERIALIZER = JsonSerializer()


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
            self.messages.append(record.getMessage())


def make_source(args, tables):
    host, port, user, password, database, schema = args
    config = PostgreSQLDataSource.get_default_configuration()
    values = {
        "host": host, "port": int(port), "username": user, "password": password,
        "database": database, "schema": schema, "tables": tables,
        "ssl_enabled": False, "ssl_ca": "", "fetch_size": 50, "retry_count": 1,
    }
    for key, value in values.items():
        config[key]["value"] = value
    source = PostgreSQLDataSource(configuration=DataSourceConfiguration(config))
    source.set_framework_config(DataSourceFrameworkConfig(5 * 1024 * 1024))
    return source


async def run(args, tables, rules):
    """One get_docs() run: the documents as sent (minus the run-dependent _timestamp), or the error."""
    source = make_source(args, tables)
    collect = Collect()
    source._logger.addHandler(collect)
    docs, error = [], None
    try:
        filtering = Filter({"advanced_snippet": {"value": rules}, "rules": []}) if rules else None
        async for doc, _ in source.get_docs(filtering=filtering):
            wire = json.loads(SERIALIZER.dumps(doc))
            wire.pop("_timestamp", None)
            docs.append(wire)
    except Exception as exc:  # recorded: a table Elastic cannot read is part of the golden data
        error = f"{type(exc).__name__}: {str(exc).split(':')[0]}"
    finally:
        source._logger.removeHandler(collect)
        await source.close()
    return {"docs": docs, "error": error, "warnings": collect.messages}


async def main():
    args = sys.argv[1:7]
    schema = args[5]
    with open(sys.argv[7], encoding="utf-8") as file:
        rules = json.loads(file.read().replace("{schema}", schema))
    tables = await list_tables(args)
    out = {"tables": {}, "rules": {}}
    for table in tables:
        out["tables"][table] = await run(args, [table], None)
    for i, rule in enumerate(rules):
        out["rules"][str(i)] = await run(args, "*", [rule])
    print(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True))


async def list_tables(args):
    source = make_source(args, "*")
    try:
        return sorted([t async for t in source.postgresql_client.get_tables_to_fetch()])
    finally:
        await source.close()


if __name__ == "__main__":
    asyncio.run(main())
