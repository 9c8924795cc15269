// Prints the plain `N passed, N failed` line CI reads, counting suites that failed to run as failures, and
// skipped or todo tests too: the project allows none, so one that slips in must not pass unseen.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class PlainSummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites + results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed`;
    mkdirSync(join(this.rootDir, 'dist'), { recursive: true });
    writeFileSync(join(this.rootDir, 'dist', 'test-summary.txt'), `${line}\n`);
    process.stdout.write(`\n${line}\n`);
  }
}

module.exports = PlainSummaryReporter;
