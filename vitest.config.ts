import { defineConfig } from "vitest/config"

export default defineConfig({
  // No retries (vitest's default, never set here): a test that fails under load is a bug to fix, not to hide.
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites start real servers and processes; two cores are all we have.
    maxWorkers: 2,
    minWorkers: 1
  }
})
