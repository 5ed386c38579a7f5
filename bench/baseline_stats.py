"""How many events the baseline's workflows have applied, in the baseline worker process.

The workflows import this module passed through the sandbox, so they all add to this one
counter; the worker writes it to a file the benchmark reads. Replays do not count.
"""

processed = 0
