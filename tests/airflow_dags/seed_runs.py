"""Seed DAG runs straight into Airflow's database, through Airflow's own models (run by the
Airflow venv's interpreter, with the server's AIRFLOW_HOME and database): finished runs, so the
scheduler leaves them alone. About 10 s for 10,000, where the REST API takes minutes.

Usage: python seed_runs.py COUNT DAG_ID [OLDEST STEP_MINUTES]
(OLDEST: the first run's time, ISO 8601; runs follow it STEP_MINUTES apart; by default from
2026-01-01, a minute apart.)
"""

import sys
from datetime import UTC, datetime, timedelta

from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType

START = datetime(2026, 1, 1, tzinfo=UTC)


def main(count: int, dag_id: str, oldest: datetime = START, step: float = 1) -> None:
    with create_session() as session:
        for number in range(count):
            when = oldest + timedelta(minutes=number * step)
            run = DagRun(
                dag_id=dag_id,
                run_id=f"manual__{when.isoformat()}",
                queued_at=when,
                run_after=when,
                start_date=when,
                conf={"model": "churn", "number": number},
                state=DagRunState.FAILED if number % 7 == 0 else DagRunState.SUCCESS,
                run_type=DagRunType.MANUAL,
                triggered_by=DagRunTriggeredByType.TEST,
                triggering_user_name="ops",
            )
            run.end_date = when + timedelta(seconds=42)
            session.add(run)
    print(count)


if __name__ == "__main__":
    if len(sys.argv) > 3:
        main(int(sys.argv[1]), sys.argv[2], datetime.fromisoformat(sys.argv[3]), float(sys.argv[4]))
    else:
        main(int(sys.argv[1]), sys.argv[2])
