import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites start real servers and processes; two cores are all we have.
    maxWorkers: 2,
    // Suites that stop and restart real etcd / ZooKeeper servers are timing-sensitive on a loaded 2-core CI box.
    // A retry there is logged by vitest; a test that fails twice still fails the run.
    retry: process.env.CI ? 2 : 0,
    minWorkers: 1
  }
})
