// An agency client on the official JavaScript CloudEvents SDK (npm `cloudevents`), as its README
// shows: HTTP.structured / HTTP.binary posted with fetch, Kafka.binary for the raw topic (printed
// for the test to produce: the SDK converts, it does not connect to Kafka).
// Usage: NODE_PATH=<node_modules> node send.js <intake url> <token> <time>
const { CloudEvent, HTTP, Kafka } = require("cloudevents");

const [url, token, time] = process.argv.slice(2);
const event = (id, value) => new CloudEvent({
  specversion: "1.0", id, source: "/agencies/CA-TINH", type: "vn.gov.pcmt.indicator.reported.v1", time,
  datacontenttype: "application/json", data: { indicator: "drug_cases_detected", period: "2024-06", value },
});

async function post(message) {
  const response = await fetch(`${url}/v1/events`, {
    method: "POST", body: message.body, headers: { ...message.headers, authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.text() };
}

(async () => {
  const binary = HTTP.binary(event("js-binary-11", 11));
  const http = [await post(HTTP.structured(event("js-structured", 10))), await post(binary)];
  const record = Kafka.binary(event("js-kafka", 12));
  const headers = Object.fromEntries(Object.entries(record.headers).filter(([, v]) => v !== undefined));
  const value = typeof record.value === "string" ? record.value : JSON.stringify(record.value);
  console.log(JSON.stringify({ http, binary_body: binary.body, kafka: { key: "CA-TINH", headers, value } }));
})().catch((error) => { console.error(error); process.exit(1); });
