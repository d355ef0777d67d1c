// The Express app of the gateway benchmark (bench/run, "gateways"): `Hello world!` at /.
// Served two ways side by side: by the Express adapter behind the front, and by plain Node
// http directly (node bench/apps/express_hello.mjs PORT). Express comes from clients/node's
// dependencies (npm ci there).
import { createRequire } from "node:module";

const require = createRequire(new URL("../../clients/node/package.json", import.meta.url));
const express = require("express");

export const app = express();
app.disable("x-powered-by");
app.get("/", (req, res) => res.type("text/plain").send("Hello world!"));

if (process.argv[2] && import.meta.url === `file://${process.argv[1]}`) {
  app.listen(Number(process.argv[2]), "127.0.0.1");
}
