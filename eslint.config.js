// ESLint (flat config) over src/: function length and import cycles. Formatting is Prettier's; `npm run lint` runs both.
import tseslint from "typescript-eslint"
import { noCycle } from "./scripts/lint/no-cycle.mjs"

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "src/Server/Console/static/**"] },
  {
    files: ["src/**/*.ts"],
    languageOptions: { parser: tseslint.parser },
    plugins: { local: { rules: { "no-cycle": noCycle } } },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // A longer function is split by concern. A declarative table may be exempted where it stands:
      // `// eslint-disable-next-line max-lines-per-function -- <why>`.
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
      "local/no-cycle": "error"
    }
  }
)
