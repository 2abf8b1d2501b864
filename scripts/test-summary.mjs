// Prints the closing line CI reads ("N passed, N failed, N skipped"), summed over every stage of
// scripts/test.sh: vitest JSON reports (one per stage) and plain checks (a line "ok NAME" or
// "failed NAME" each, in a checks file).
//   node scripts/test-summary.mjs [--checks FILE] REPORT.json...
import { existsSync, readFileSync } from "node:fs";

const args = process.argv.slice(2);
let checksFile;
const reports = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--checks") checksFile = args[++i];
  else reports.push(args[i]);
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const path of reports) {
  if (!existsSync(path)) {
    console.log(`failed: ${path}: the stage wrote no report`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(path, "utf8"));
  // A file that failed outside its tests (import error, failing beforeAll) counts as a failure
  // even though its tests were only skipped.
  const brokenFiles = (report.testResults ?? []).filter(
    (file) =>
      file.status === "failed" &&
      !(file.assertionResults ?? []).some((test) => test.status === "failed"),
  ).length;
  for (const file of report.testResults ?? []) {
    if (file.status === "failed" && file.message)
      console.log(`failed: ${file.name}: ${file.message.split("\n")[0]}`);
    for (const test of file.assertionResults ?? []) {
      if (test.status === "failed") {
        // The first lines of the failure: CI shows only the end of the log, so the reason must be here.
        const reason = (test.failureMessages ?? []).join("\n").split("\n").slice(0, 12);
        console.log(`failed: ${test.fullName} [${path}]`);
        for (const line of reason) console.log(`    ${line.slice(0, 300)}`);
      }
      if (test.status === "pending" || test.status === "skipped")
        console.log(`skipped: ${test.fullName}`);
    }
  }
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + brokenFiles;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
if (checksFile !== undefined && existsSync(checksFile)) {
  for (const line of readFileSync(checksFile, "utf8").split("\n")) {
    const [result, ...name] = line.trim().split(" ");
    if (result === "ok") passed += 1;
    else if (result === "failed") {
      failed += 1;
      console.log(`failed: check ${name.join(" ")}`);
    } else if (result === "skipped") {
      skipped += 1;
      console.log(`skipped: check ${name.join(" ")}`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
