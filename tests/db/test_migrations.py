from sqlalchemy import create_engine, inspect, text

from piazza.db.migrate import schema_differences


def test_migrations_build_the_same_schema_as_the_models(database_url):
    assert schema_differences(database_url) == []


def test_migrations_seed_the_self_client(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, secret_digest, scopes FROM oauth_clients WHERE id = 'self'")
        ).one()
    engine.dispose()
    assert row == ("self", None, "all")


def test_every_table_has_a_primary_key(database_url):
    engine = create_engine(database_url)
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        assert inspector.get_pk_constraint(table)["constrained_columns"], table
    engine.dispose()
