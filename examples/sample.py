"""A small module for the demo: review and explain `average_ratio`."""

import json


def load_scores(path):
    with open(path) as handle:
        return json.load(handle)


def average_ratio(scores, totals):
    result = 0
    for i in range(len(scores)):
        result += scores[i] / totals[i]
    return result / len(scores)


def main():
    data = load_scores("scores.json")
    print(average_ratio(data["scores"], data["totals"]))
