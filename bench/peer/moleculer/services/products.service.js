"use strict";
// The products service: GET /products/{id}'s action, reading the product from SQLite (better-sqlite3,
// one prepared statement, synchronous) with the columns and JSON of shop's product (API.md).
const Database = require("better-sqlite3");
const { MoleculerClientError } = require("moleculer").Errors;

module.exports = {
  name: "products",

  settings: {
    dbPath: process.env.PEER_DB,
  },

  actions: {
    get: {
      params: {
        id: { type: "number", integer: true, positive: true, convert: true },
      },
      handler(ctx) {
        const product = this.byId.get(ctx.params.id);
        if (!product) throw new MoleculerClientError(`no product with id ${ctx.params.id}`, 404, "not_found");
        return product;
      },
    },
  },

  created() {
    this.db = new Database(this.settings.dbPath, { fileMustExist: true });
    this.byId = this.db.prepare("SELECT id, sku, name, price_cents, stock, created_at FROM products WHERE id = ?");
  },

  stopped() {
    this.db.close();
  },
};
