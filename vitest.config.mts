import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One shared 3-node lab per run, brought up lazily by the first test that needs it and torn down at the end.
    globalSetup: ["./test/support/lab-global-setup.ts", "./test/support/reliability-setup.ts"],
    // Kernel and lab tests share namespaces and the CPU of a 2-core machine: keep files sequential.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default", "./test/support/summary-reporter.mts"],
  },
});
