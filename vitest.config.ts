import { defineConfig } from 'vitest/config';

// Files run one at a time: the e2e suites build network namespaces and TAP devices and must never overlap,
// and the machine has two cores. Unit files are fast enough that this costs little.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    // The control thread's log lines (config changes, health transitions) stay out of the test output; the
    // e2e daemons and decapsulators get TAPVS_LOG=info back from test/helpers/testbed.ts.
    env: { TAPVS_LOG: 'warn' },
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
