"""The tests' own PostgreSQL server (postgres_server.py): real databases, one per test."""

from __future__ import annotations

import pytest
import sqlalchemy
from postgres_server import PostgresServer
from sqlalchemy import text


def _engine(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)


def test_a_row_written_in_a_transaction_is_read_back(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL)"))
            connection.execute(text("INSERT INTO people (name) VALUES (:name)"), {"name": "Zoë Ada"})
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id, name FROM people")).all() == [(1, "Zoë Ada")]
            assert connection.execute(text("SELECT current_setting('server_encoding')")).scalar() == "UTF8"
            assert connection.dialect.name == "postgresql"
    finally:
        engine.dispose()


def test_a_rolled_back_transaction_leaves_nothing(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE notes (body text)"))
        with pytest.raises(RuntimeError), engine.begin() as connection:
            connection.execute(text("INSERT INTO notes VALUES ('kept?')"))
            raise RuntimeError("roll back")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM notes")).scalar() == 0
    finally:
        engine.dispose()


def test_each_database_is_separate(postgres_server: PostgresServer, postgres_url: str) -> None:
    other = postgres_url.rsplit("/", 1)[1][:55] + "_second"
    other_url = postgres_server.create_database(other)
    assert other_url != postgres_url
    first, second = _engine(postgres_url), _engine(other_url)
    try:
        with first.begin() as connection:
            connection.execute(text("CREATE TABLE only_here (x int)"))
            connection.execute(text("INSERT INTO only_here VALUES (7)"))
        assert sqlalchemy.inspect(first).get_table_names() == ["only_here"]
        assert sqlalchemy.inspect(second).get_table_names() == []
        with second.connect() as connection, pytest.raises(sqlalchemy.exc.ProgrammingError):
            connection.execute(text("SELECT x FROM only_here"))
    finally:
        first.dispose()
        second.dispose()
        postgres_server.drop_database(other)


def test_a_fresh_database_per_test_starts_empty(postgres_url: str) -> None:
    # Runs after the tests above made tables: none of them may show up here.
    engine = _engine(postgres_url)
    try:
        assert sqlalchemy.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
