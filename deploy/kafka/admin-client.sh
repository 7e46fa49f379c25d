# Sourced by start.sh and create-topics.sh: the admin principal's password, checked, and its
# client configuration ($1/admin.properties, mode 600) for Kafka's command-line tools.
admin_client_config() {
  : "${KAFKA_ADMIN_PASSWORD_FILE:?KAFKA_ADMIN_PASSWORD_FILE is required (a file holding the admin password)}"
  password="$(tr -d '\r\n' < "$KAFKA_ADMIN_PASSWORD_FILE")"
  if [ "${#password}" -lt 16 ]; then
    echo "$KAFKA_ADMIN_PASSWORD_FILE: the admin password needs 16+ characters" >&2
    exit 2
  fi
  case "$password" in
    *[\"\\\ ]*) echo "$KAFKA_ADMIN_PASSWORD_FILE: no quotes, backslashes or spaces (it goes into a JAAS line)" >&2; exit 2 ;;
  esac
  mkdir -p "$1" && chmod 700 "$1"
  (umask 077; cat > "$1/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$password";
PROPS
  )
}
