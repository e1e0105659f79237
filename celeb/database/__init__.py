"""The dataset and the models in a database (PostgreSQL; SQLite for one local file), through
SQLAlchemy: what keeps the owner's work where the disk is not kept (Streamlit Community Cloud).

The database holds everything; a local working folder is its cache, laid out like the folder
store, so that the code that reads photos, crops and models by path works unchanged, and a
working folder deleted (a restart on the Cloud) is filled again from the database.

Tables::

    celeb_lock         one row per lock: a change updates its row first, so writers queue
    celeb_changes      the dataset's changes, as the folder store's journal operations
    celeb_snapshot     every record as of one change (manifest.json's form), now and then
    celeb_files        photos, crops and feature caches by their path in the dataset folder
    celeb_model_files  the models folder: model.joblib, model.json, history/...

A change is one transaction: the lock row, the records' operations and the files they name go
in together or not at all, so a process killed at any point leaves the previous state, and two
processes never lose each other's writes. Adding a photo writes one change row and one file
row, whatever the dataset's size; the snapshot is rewritten only every SNAPSHOT_EVERY changes.

The URL (and its password) is never shown: :meth:`Database.shown` names the server and the
database only, and errors say what failed without the URL or the SQL's values.
"""

from .connection import SCHEMA_VERSION, Database, database
from .models import DatabaseModels
from .records import DatabaseRecords

__all__ = ["SCHEMA_VERSION", "Database", "DatabaseModels", "DatabaseRecords", "database"]
