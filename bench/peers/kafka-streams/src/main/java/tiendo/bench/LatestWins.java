package tiendo.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Latest value wins per (agency, indicator, period, unit) of the binary-mode CloudEvents on
 * PEER_TOPIC, kept in a RocksDB store, each update written to PEER_OUTPUT, exactly_once_v2.
 * What bench/peers/quix_peer.py does, the same way: the benchmark checks both final states.
 */
public final class LatestWins {
  static final String REPORTED = "vn.gov.pcmt.indicator.reported.v1";
  static final String STORE = "latest";

  public static void main(String[] args) throws InterruptedException {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, env("PEER_GROUP"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BOOTSTRAP_SERVERS"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, env("PEER_STATE_DIR"));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    String user = System.getenv("KAFKA_SASL_USERNAME");
    if (user != null && !user.isEmpty()) {
      p.put("security.protocol", System.getenv().getOrDefault("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"));
      p.put("sasl.mechanism", "SCRAM-SHA-512");
      p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
          + user + "\" password=\"" + env("KAFKA_SASL_PASSWORD") + "\";");
    }
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.Double()));
    builder.stream(env("PEER_TOPIC"), Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(Latest::new, STORE)
        .to(env("PEER_OUTPUT"), Produced.with(Serdes.String(), Serdes.String()));
    KafkaStreams streams = new KafkaStreams(builder.build(), p);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> { streams.close(); stopped.countDown(); }));
    streams.start();
    stopped.await();
  }

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new IllegalArgumentException(name + " is not set");
    return value;
  }

  static final class Latest implements Processor<String, byte[], String, String> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private ProcessorContext<String, String> context;
    private KeyValueStore<String, Double> store;

    @Override
    public void init(ProcessorContext<String, String> context) {
      this.context = context;
      this.store = context.getStateStore(STORE);
    }

    @Override
    public void process(Record<String, byte[]> record) {
      Header type = record.headers().lastHeader("ce_type");
      if (type == null || !REPORTED.equals(new String(type.value(), StandardCharsets.UTF_8))) return;
      try {
        JsonNode data = JSON.readTree(record.value());
        JsonNode unit = data.get("unit_code");
        String key = record.key() + "|" + data.get("indicator").asText() + "|" + data.get("period").asText()
            + "|" + (unit == null || unit.isNull() ? "" : unit.asText());
        double value = data.get("value").asDouble();
        store.put(key, value);
        context.forward(new Record<>(key, Double.toString(value), record.timestamp()));
      } catch (java.io.IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
