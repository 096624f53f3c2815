import pytest


@pytest.fixture(scope="session")
def peer():
    """One EXIficient JVM (Josev's EXICodec.jar over py4j) for the whole test session."""
    from host_tools.exi.peer import ExificientPeer

    p = ExificientPeer()
    yield p
    p.close()
