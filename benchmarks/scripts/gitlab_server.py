"""The GitLab v4 REST fake of the tests (tests/fakes/gitlab_server.py) as a process, for benchmarks.

Usage: python gitlab_server.py PIPELINES
Seeds project `ml/churn-model` with PIPELINES pipelines (two jobs each), prints one JSON line
`{"url": base URL, "newest_pipeline": id}`, then serves until terminated. The token is the fake's
`TOKEN`.
"""

import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.gitlab_server import FakeGitlab  # noqa: E402

PROJECT = "ml/churn-model"
STATUSES = ("success", "success", "failed", "success", "canceled")


def main(pipelines: int) -> None:
    fake = FakeGitlab().start()
    project = fake.add_project(PROJECT)
    for index in range(pipelines):
        pipeline = fake.add_pipeline(project["id"], status=STATUSES[index % len(STATUSES)])
        fake.add_job(pipeline["id"], "train", "train", trace="training\n")
        fake.add_job(pipeline["id"], "evaluate", "test", trace="evaluating\n")
    print(json.dumps({"url": fake.url, "newest_pipeline": pipeline["id"]}), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
