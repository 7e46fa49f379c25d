#!/usr/bin/env bash
# One-shot job (compose service kafka-init): create every Tiendo topic with its partitions and
# retention, exactly as shared/kafka.py ALL_TOPICS says (tests/deploy/test_compose.py checks
# that the two agree). Idempotent: existing topics are left as they are. Retries until enough
# brokers are up for the replication factor (the 3-broker profile starts them in parallel).
set -euo pipefail

BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:?KAFKA_BOOTSTRAP_SERVERS is required}"
RF="${TOPIC_REPLICATION_FACTOR:-1}"
MIN_ISR="${TOPIC_MIN_INSYNC_REPLICAS:-1}"
TOPICS=/opt/kafka/bin/kafka-topics.sh
# The broker takes SASL/SCRAM clients only: this job runs as the admin principal.
# shellcheck source=admin-client.sh
source "$(dirname "$0")/admin-client.sh"
admin_client_config /tmp/tiendo-kafka
ADMIN=(--command-config /tmp/tiendo-kafka/admin.properties)

create() {  # name partitions retention.ms
  local name=$1 partitions=$2 retention_ms=$3 attempt
  for attempt in $(seq 1 30); do
    if "$TOPICS" --bootstrap-server "$BOOTSTRAP" "${ADMIN[@]}" --create --if-not-exists --topic "$name" \
         --partitions "$partitions" --replication-factor "$RF" \
         --config "retention.ms=$retention_ms" --config cleanup.policy=delete \
         --config "min.insync.replicas=$MIN_ISR"; then
      return 0
    fi
    echo "creating $name failed (attempt $attempt); retrying in 2 s" >&2
    sleep 2
  done
  echo "could not create $name" >&2
  return 1
}

#      topic               partitions  retention.ms
create progress.raw.v1     6           1209600000     # 14 days: intake forwards within seconds
create progress.events.v1  6           34560000000    # 400 days: the plan year + rebuilds (docs/operations.md)
create progress.dlq.v1     3           7776000000     # 90 days
create kpi.status.v1       6           7776000000     # 90 days

"$TOPICS" --bootstrap-server "$BOOTSTRAP" "${ADMIN[@]}" --describe \
  --topic 'progress.raw.v1|progress.events.v1|progress.dlq.v1|kpi.status.v1' | grep -v '^\s*Topic:.*Partition:' || true
echo "topics ready"
