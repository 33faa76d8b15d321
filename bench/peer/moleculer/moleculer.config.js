"use strict";
// Broker options of both modes of the benchmark's peer row (bench/README.md, "Peer: Moleculer"), read by
// moleculer-runner. bench/lib/peer.py sets them through the environment:
//   PEER_NODE_ID    this broker's node id
//   PEER_NAMESPACE  a namespace of the run's own, so that no other Moleculer node on the machine joins it
//   PEER_TCP_URLS   split mode only: "127.0.0.1:PORT/gateway,127.0.0.1:PORT/products", Moleculer's TCP
//                   transporter with a static list of endpoints (UDP discovery off); absent: one process,
//                   no transporter, every call local
//   PEER_LOG_LEVEL  default "warn": nothing per request (moleculer-web logs each request and response at info)
// Everything else is Moleculer's default: JSON serializer, round-robin strategy (preferLocal), parameter
// validation (fastest-validator), no cacher, no metrics, no tracing, no circuit breaker, no retries.
const urls = process.env.PEER_TCP_URLS;

module.exports = {
  namespace: process.env.PEER_NAMESPACE || "shop-bench",
  nodeID: process.env.PEER_NODE_ID || null,
  logger: {
    type: "Console",
    options: { level: process.env.PEER_LOG_LEVEL || "warn", colors: false, moduleColors: false, formatter: "full" },
  },
  transporter: urls ? { type: "TCP", options: { udpDiscovery: false, urls } } : null,
  requestTimeout: 10 * 1000,
  metrics: { enabled: false },
  tracing: { enabled: false },
};
