from dataclasses import dataclass


@dataclass
class Sample:
    host: str
    latency_ms: float


def mean_latency(samples: list[Sample]) -> float:
    total = sum(s.latency_ms for s in samples)
    return total / len(samples)
