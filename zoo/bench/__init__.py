"""The benchmark runner: grid expansion, executors, results store and reports."""
