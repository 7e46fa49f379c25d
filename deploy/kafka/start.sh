#!/usr/bin/env bash
# A Kafka broker+controller (KRaft) that takes SASL/SCRAM-SHA-512 clients only and denies what no
# ACL allows: the same configuration as the local stack's (shared/infra/kafka.py), for compose.
# The one super user is `admin`, whose SCRAM credential is written at `kafka-storage format` (KRaft
# has no ZooKeeper to hold it before the first start); controllers authenticate each other with
# SASL/PLAIN as that admin, as they cannot read SCRAM credentials before they have a quorum.
# Each service's principal and ACLs are added afterwards by the kafka-access job
# (`tiendo agency kafka-credentials grant-services`); agencies' by `... create AGENCY`.
#
# Also writes $KAFKA_CONFIG_DIR/admin.properties (admin-client.sh) for the healthcheck.
# tests/deploy/test_kafka_start.py runs this script on Kafka's jars.
set -euo pipefail

: "${KAFKA_NODE_ID:?KAFKA_NODE_ID is required}"
: "${KAFKA_CONTROLLER_QUORUM_VOTERS:?KAFKA_CONTROLLER_QUORUM_VOTERS is required (1@kafka:9093,...)}"
: "${CLUSTER_ID:?CLUSTER_ID is required (22 characters of URL-safe base64)}"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"
CONFIG_DIR="${KAFKA_CONFIG_DIR:-/tmp/tiendo-kafka}"
LOG_DIRS="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
LISTEN_HOST="${KAFKA_LISTEN_HOST:-}"                 # empty: every interface
ADVERTISED_HOST="${KAFKA_ADVERTISED_HOST:-$(hostname)}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REPLICATION="${KAFKA_INTERNAL_REPLICATION_FACTOR:-1}"
MIN_ISR="${KAFKA_MIN_INSYNC_REPLICAS:-1}"
LOG4J="${KAFKA_LOG4J_CONFIG:-$KAFKA_HOME/config/log4j2.yaml}"  # the image's; tests give theirs

# shellcheck source=admin-client.sh
source "$(dirname "$0")/admin-client.sh"
admin_client_config "$CONFIG_DIR"  # sets $password

mkdir -p "$LOG_DIRS"
umask 077
cat > "$CONFIG_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS
listeners=SASL_PLAINTEXT://$LISTEN_HOST:$PORT,CONTROLLER://$LISTEN_HOST:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://$ADVERTISED_HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$password";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$password" user_admin="$password";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs=$LOG_DIRS
# Topics are created explicitly by kafka-init, never by a producer's typo.
auto.create.topics.enable=false
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
min.insync.replicas=$MIN_ISR
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=${KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS:-3000}
EOF
java_cmd=(java ${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g} "-Dlog4j2.configurationFile=$LOG4J"
          "-Dkafka.logs.dir=${KAFKA_LOGS_DIR:-$CONFIG_DIR/logs}" -cp "$KAFKA_HOME/libs/*")
if [ ! -f "$LOG_DIRS/meta.properties" ]; then
  echo "formatting $LOG_DIRS (cluster $CLUSTER_ID, node $KAFKA_NODE_ID) with the admin's SCRAM credential"
  "${java_cmd[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONFIG_DIR/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$password]"
fi
exec "${java_cmd[@]}" kafka.Kafka "$CONFIG_DIR/server.properties"
