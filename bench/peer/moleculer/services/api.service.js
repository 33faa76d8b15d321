"use strict";
// The HTTP gateway (moleculer-web): GET /products/:id -> products.get, errors as problem details.
const http = require("http");
const ApiGateway = require("moleculer-web");

module.exports = {
  name: "api",
  mixins: [ApiGateway],
  // The HTTP server opens once products.get can be called (in split mode: once the products node is known).
  dependencies: ["products"],

  settings: {
    ip: "127.0.0.1",
    port: Number(process.env.PEER_HTTP_PORT || 3000),
    routes: [
      {
        path: "/",
        mappingPolicy: "restrict",
        aliases: {
          "GET products/:id": "products.get",
        },
        bodyParsers: { json: false, urlencoded: false },
      },
    ],

    // API.md's error shape (RFC 9457 problem details), for an unknown id above all.
    onError(req, res, err) {
      const status = Number.isInteger(err.code) && err.code >= 400 && err.code < 600 ? err.code : 500;
      const code = String(err.type || "internal").toLowerCase();
      res.setHeader("Content-Type", "application/problem+json");
      res.writeHead(status);
      res.end(JSON.stringify({
        type: "about:blank", title: http.STATUS_CODES[status], status, detail: err.message, code,
      }));
    },
  },
};
