"""Shared test configuration.

The CI machine has two cores shared by several test processes; one intra-op
thread per process keeps timings predictable and avoids oversubscription.
"""
import torch

torch.set_num_threads(1)
