import type { ConnectorDocument, FilteringRules } from "./protocol.js";

/**
 * The default filtering Elasticsearch writes for a new connector
 * (`ConnectorFiltering.getDefaultConnectorFilteringConfig` in Elasticsearch's ent-search plugin):
 * one include-everything basic rule, an empty advanced snippet with its timestamps, state valid.
 */
export function defaultFiltering(
  now: string = new Date().toISOString(),
): NonNullable<ConnectorDocument["filtering"]>[number] {
  const rules = (): FilteringRules => ({
    rules: [
      {
        id: "DEFAULT",
        field: "_",
        rule: "regex",
        value: ".*",
        policy: "include",
        order: 0,
        created_at: now,
        updated_at: now,
      },
    ],
    advanced_snippet: { value: {}, created_at: now, updated_at: now },
    validation: { state: "valid", errors: [] },
  });
  return { domain: "DEFAULT", active: rules(), draft: rules() };
}
