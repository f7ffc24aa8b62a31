"""Dead letters: records a stage could not process, kept (IP removed) with the stage and the
reason, listed and re-driven by ``trackhouse dead list|replay``."""
