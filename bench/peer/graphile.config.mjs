// PostGraphile v5 over the bench's database, as a team would run it: the amber preset, the
// `public` schema, production mode, no GraphiQL. `passerelle-peer-bench` starts it with
// DATABASE_URL and PORT set.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: { port: Number(process.env.PORT), host: "127.0.0.1", graphiql: false },
  grafast: { explain: false },
};
