"""One full sync with Elastic's PostgreSQL connector (elastic/connectors, a checkout outside this
repository, on PYTHONPATH through its venv), driven as its sync job runner drives it: the
PostgreSQL source's get_docs() into its SyncOrchestrator (Extractor -> MemQueue -> Sink), with the
framework's default bulk options. No Kibana, no connector documents: the content index only.
The test distribution has no ingest pipelines, so documents go without one (pipeline name None)
and keep the three pipeline flags the runner adds. Prints one JSON line of the sink's counters.

Arguments: es_url index host port user password database schema
"""

import asyncio
import json
import sys

from connectors_sdk.config import DataSourceFrameworkConfig
from connectors_sdk.filtering.validation import Filter
from connectors_sdk.source import DataSourceConfiguration
from connectors.config import _default_config
from connectors.es.sink import OP_INDEX, SyncOrchestrator
from connectors.protocol import JobType
from connectors.sources.postgresql import PostgreSQLDataSource

PIPELINE = {"name": None, "extract_binary_content": True, "reduce_whitespace": True, "run_ml_inference": True}


def make_source(host, port, user, password, database, schema):
    config = PostgreSQLDataSource.get_default_configuration()
    values = {
        "host": host, "port": int(port), "username": user, "password": password,
        "database": database, "schema": schema, "tables": "*", "ssl_enabled": False, "ssl_ca": "",
    }
    for key, value in values.items():
        config[key]["value"] = value
    source = PostgreSQLDataSource(configuration=DataSourceConfiguration(config))
    source.set_framework_config(DataSourceFrameworkConfig(5 * 1024 * 1024))
    return source


async def documents(source):
    async for doc, lazy_download in source.get_docs(filtering=Filter()):
        doc["_extract_binary_content"] = PIPELINE["extract_binary_content"]
        doc["_reduce_whitespace"] = PIPELINE["reduce_whitespace"]
        doc["_run_ml_inference"] = PIPELINE["run_ml_inference"]
        yield doc, lazy_download, OP_INDEX


async def main():
    es_url, index = sys.argv[1:3]
    source = make_source(*sys.argv[3:9])
    es_config = _default_config()["elasticsearch"]
    es_config["host"] = es_url
    bulk_options = es_config["bulk"].copy()
    source.tweak_bulk_options(bulk_options)
    orchestrator = SyncOrchestrator(es_config)
    try:
        await source.ping()
        await orchestrator.prepare_content_index(index)
        await orchestrator.async_bulk(index, documents(source), PIPELINE, JobType.FULL, options=bulk_options)
        while not orchestrator.done():
            await asyncio.sleep(0.1)
        error = orchestrator.get_error()
        if error is not None:
            raise error
        print(json.dumps(orchestrator.ingestion_stats()))
    finally:
        await orchestrator.close()
        await source.close()


if __name__ == "__main__":
    asyncio.run(main())
