"""The fault matrix (issue 7, point 1): every fault × every job, against the sandbox cabinet."""
