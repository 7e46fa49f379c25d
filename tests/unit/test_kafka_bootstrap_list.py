"""A cluster's bootstrap list ("a:9092,b:9092,c:9092", as KAFKA_BOOTSTRAP_SERVERS names a 3-broker
cluster) reaches FastStream's clients as three servers: FastStream takes a string as one host."""

from prometheus_client import CollectorRegistry

from shared.kafka import make_broker


def test_make_broker_splits_a_comma_separated_bootstrap_list():
    broker = make_broker(
        "127.0.0.1:9092, 127.0.0.1:9093,127.0.0.1:9094", registry=CollectorRegistry(), app_name="t"
    )
    (config,) = [c for c in broker.config.configs if hasattr(c, "builder")]
    assert config.builder.keywords["bootstrap_servers"] == [
        "127.0.0.1:9092",
        "127.0.0.1:9093",
        "127.0.0.1:9094",
    ]


def test_make_broker_keeps_a_single_server():
    broker = make_broker("127.0.0.1:9092", registry=CollectorRegistry(), app_name="t")
    (config,) = [c for c in broker.config.configs if hasattr(c, "builder")]
    assert config.builder.keywords["bootstrap_servers"] == ["127.0.0.1:9092"]
