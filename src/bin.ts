/** STUB entry point; the CLI helper writes the real one. */
console.log("swarm: not built yet")
