import { describe, expect, it } from "vitest";
import { route } from "../helpers/connector-api-endpoints.js";

// Regression (CI flake, 2026-12-04): job ids are 20 base64url characters, so 1 in 64 starts with
// `_`; the emulator refused to route them ("does not implement PUT .../_claim") and such a job
// never ran. Elasticsearch routes them: only a literal segment (`_sync_job`) wins over an id.
describe("the Connector API emulator routes paths as Elasticsearch does", () => {
  it("a job id that starts with an underscore reaches the job's endpoints", () => {
    for (const [method, suffix, path] of [
      ["PUT", ["_claim"], "/_connector/_sync_job/:id/_claim"],
      ["PUT", ["_stats"], "/_connector/_sync_job/:id/_stats"],
      ["PUT", ["_cancel"], "/_connector/_sync_job/:id/_cancel"],
      ["GET", [], "/_connector/_sync_job/:id"],
    ] as const) {
      const found = route(method, ["_connector", "_sync_job", "_fjnxXQ9xtFBLKKClKBx", ...suffix]);
      expect(found?.endpoint.path, `${method} ${path}`).toBe(path);
      expect(found?.params.id).toBe("_fjnxXQ9xtFBLKKClKBx");
    }
  });

  it("`_sync_job` is never taken for a connector id", () => {
    expect(route("GET", ["_connector", "_sync_job"])?.endpoint.path).toBe("/_connector/_sync_job");
    expect(route("GET", ["_connector", "-my-connector"])?.endpoint.path).toBe("/_connector/:id");
  });
});
