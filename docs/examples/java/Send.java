// An agency client on the official Java CloudEvents SDK (io.cloudevents): cloudevents-http-basic's
// writer for HTTP structured and binary mode (sent with java.net.http), cloudevents-kafka's
// serializer in binary mode for the raw topic.
// Fetch the jars with `mvn dependency:build-classpath -Dmdep.outputFile=cp.txt` (pom.xml here), then
// usage: java -cp "$(cat cp.txt)" Send.java <intake url> <token> <time> <bootstrap servers> <raw topic>
// Kafka: your agency's own topic (progress.raw.v1.<AGENCY>) with the SCRAM credentials of
// `tiendo agency kafka-credentials create`, from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD.
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.core.message.Encoding;
import io.cloudevents.http.HttpMessageFactory;
import io.cloudevents.jackson.JsonFormat;
import io.cloudevents.kafka.CloudEventSerializer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class Send {
    static String url, token, time;

    static CloudEvent event(String id, int value) {
        String data = "{\"indicator\": \"drug_cases_detected\", \"period\": \"2024-06\", \"value\": " + value + "}";
        return CloudEventBuilder.v1().withId(id).withSource(URI.create("/agencies/CA-TINH"))
            .withType("vn.gov.pcmt.indicator.reported.v1").withTime(OffsetDateTime.parse(time))
            .withData("application/json", data.getBytes(StandardCharsets.UTF_8)).build();
    }

    static int post(CloudEvent event, boolean structured) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url + "/v1/events"))
            .header("Authorization", "Bearer " + token);
        var writer = HttpMessageFactory.createWriter(request::header,
            body -> request.POST(HttpRequest.BodyPublishers.ofByteArray(body)));
        if (structured) writer.writeStructured(event, JsonFormat.CONTENT_TYPE); else writer.writeBinary(event);
        HttpClient client = HttpClient.newHttpClient(); // its default h2c upgrade offer is ignored by intake
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 202) System.err.println(response.body());
        return response.statusCode();
    }

    public static void main(String[] args) throws Exception {
        url = args[0]; token = args[1]; time = args[2];
        int structured = post(event("java-structured", 20), true);
        int binary = post(event("java-binary", 21), false);
        Properties props = new Properties();
        props.put("bootstrap.servers", args[3]);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", CloudEventSerializer.class.getName());
        props.put(CloudEventSerializer.ENCODING_CONFIG, Encoding.BINARY.name());
        String user = System.getenv("KAFKA_SASL_USERNAME");
        if (user != null && !user.isEmpty()) { // the broker refuses clients without credentials
            props.put("security.protocol", "SASL_PLAINTEXT"); // SASL_SSL with a CA outside loopback
            props.put("sasl.mechanism", "SCRAM-SHA-512");
            props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required"
                + " username=\"" + user + "\" password=\"" + System.getenv("KAFKA_SASL_PASSWORD") + "\";");
        }
        try (KafkaProducer<String, CloudEvent> producer = new KafkaProducer<>(props)) {
            producer.send(new ProducerRecord<>(args[4], "CA-TINH", event("java-kafka", 22))).get();
        }
        System.out.println("{\"http\": [" + structured + ", " + binary + "]}");
    }
}
