"""Writes mlflow_sqlite/mlflow.db: the tables MLflow's SQLAlchemy tracking store creates
(mlflow/store/tracking/dbmodels/models.py: SqlRun -> `runs`, SqlMetric -> `metrics`),
reduced to the columns mleng reads plus their neighbours. Two runs: `healthy-adam` and
`nan-at-120`, whose loss becomes NaN (stored as value 0, is_nan 1, as MLflow does) and
whose grad norm hits +inf (stored clamped to 1.7976931348623157e308, as MLflow does).
Standard library only: python3 make_mlflow_db.py
"""
import math
import os
import sqlite3

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "mlflow_sqlite", "mlflow.db")
os.makedirs(os.path.dirname(path), exist_ok=True)
if os.path.exists(path):
    os.remove(path)
db = sqlite3.connect(path)
db.executescript(
    """
CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256) NOT NULL UNIQUE,
  artifact_location VARCHAR(256), lifecycle_stage VARCHAR(32), creation_time BIGINT, last_update_time BIGINT);
CREATE TABLE runs (run_uuid VARCHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(250), source_type VARCHAR(20),
  source_name VARCHAR(500), entry_point_name VARCHAR(50), user_id VARCHAR(256), status VARCHAR(9),
  start_time BIGINT, end_time BIGINT, source_version VARCHAR(50), lifecycle_stage VARCHAR(20),
  artifact_uri VARCHAR(200), experiment_id INTEGER, deleted_time BIGINT);
CREATE TABLE metrics (key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
  run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
  PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan));
CREATE TABLE latest_metrics (key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT,
  step BIGINT NOT NULL, is_nan BOOLEAN NOT NULL, run_uuid VARCHAR(32) NOT NULL, PRIMARY KEY (key, run_uuid));
"""
)
db.execute("INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', 1700000000000, 1700000000000)")

def add_run(uuid, name):
    db.execute(
        "INSERT INTO runs VALUES (?, ?, 'LOCAL', 'train.py', '', 'ml', 'FINISHED', 1700000000000, 1700000900000, '', 'active', ?, 0, NULL)",
        (uuid, name, f"mlflow-artifacts:/0/{uuid}/artifacts"),
    )

def log(uuid, key, value, step):
    ts = 1700000000000 + step * 1000
    is_nan = math.isnan(value)
    if is_nan:
        value = 0.0
    elif math.isinf(value):
        value = 1.7976931348623157e308 if value > 0 else -1.7976931348623157e308
    db.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", (key, value, ts, uuid, step, is_nan))

add_run("a1" * 16, "healthy-adam")
for step in range(200):
    log("a1" * 16, "train_loss", 2.3 * math.exp(-step / 40) + 0.05 + 0.01 * math.sin(step * 1.7), step)
    log("a1" * 16, "lr", 1e-3, step)
    if step % 20 == 19:
        log("a1" * 16, "val_loss", 2.3 * math.exp(-step / 40) + 0.08, step)

add_run("b2" * 16, "nan-at-120")
for step in range(160):
    blow = step >= 100
    loss = float("nan") if step >= 120 else (2.0 * math.exp(-step / 50) + 0.3 if not blow else 0.3 * 10 ** ((step - 100) / 4))
    gn = float("inf") if step >= 119 else (1.0 if not blow else 10 ** ((step - 100) / 2))
    log("b2" * 16, "train_loss", loss, step)
    log("b2" * 16, "grad_norm", gn, step)
    log("b2" * 16, "lr", 0.1, step)
db.commit()
db.close()
print("wrote", path)
