"""The metric catalogue and the dimension registry: each business definition in one place."""
