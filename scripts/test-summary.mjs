// Prints the closing line CI reads ("N passed, N failed, N skipped") from vitest's JSON report.
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// A file that failed outside its tests (import error, failing beforeAll) counts as a failure even
// though its tests were only skipped.
const brokenFiles = (report.testResults ?? []).filter(
  (file) =>
    file.status === "failed" && !(file.assertionResults ?? []).some((test) => test.status === "failed"),
).length;
for (const file of report.testResults ?? []) {
  if (file.status === "failed" && file.message)
    console.log(`failed: ${file.name}: ${file.message.split("\n")[0]}`);
}
for (const file of report.testResults ?? []) {
  for (const test of file.assertionResults ?? []) {
    if (test.status === "pending" || test.status === "skipped") {
      console.log(`skipped: ${test.fullName}`);
    }
  }
}
console.log(
  `${report.numPassedTests} passed, ${report.numFailedTests + brokenFiles} failed, ${skipped} skipped`,
);
