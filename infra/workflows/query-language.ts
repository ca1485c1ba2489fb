import type { AslDefinition, AslState } from './asl.ts';

/*
 * The query-language rules of a definition, checked at load so that a file the engine would misrun (or that
 * Step Functions refuses at CreateStateMachine) is refused with the file and the state named: `QueryLanguage`
 * is `JSONPath` or `JSONata`, a state of a JSONata machine cannot go back to JSONPath, each state uses only the
 * fields of its language (JSONPath: InputPath/Parameters/ResultSelector/ResultPath/OutputPath and the `…Path`
 * forms; JSONata: Arguments/Output/Items and Choice `Condition`), and no field the engine does not implement
 * (`Credentials`, with `localEngine`) is accepted and then ignored.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html
 */

export type QueryLanguageName = 'JSONPath' | 'JSONata';
const LANGUAGES: readonly string[] = ['JSONPath', 'JSONata'];

/** One broken rule, with the state it is in (empty for the top level). */
export interface QueryLanguageProblem {
  readonly state: string;
  readonly message: string;
}

/** Fields only JSONPath states have (their JSONata form is Arguments/Output/Items or a `{% %}` value). */
const JSONPATH_ONLY = [
  'InputPath',
  'Parameters',
  'ResultSelector',
  'ResultPath',
  'OutputPath',
  'ItemsPath',
  'TimeoutSecondsPath',
  'HeartbeatSecondsPath',
  'SecondsPath',
  'TimestampPath',
  'ErrorPath',
  'CausePath',
  'MaxConcurrencyPath',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCountPath',
] as const;

/** Fields only JSONata states have. */
const JSONATA_ONLY = ['Arguments', 'Output', 'Items'] as const;

/** What each JSONata-only field is called in a JSONPath state, for the message. */
const JSONPATH_FORM: Record<(typeof JSONATA_ONLY)[number], string> = {
  Arguments: 'Parameters',
  Output: 'OutputPath/ResultSelector',
  Items: 'ItemsPath',
};

/** The JSONPath Choice-rule comparison operators (a JSONata rule is a `Condition`). */
const JSONPATH_RULE =
  /^(And|Or|Not|Variable|(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals|Matches)(Path)?|Is(Null|Present|Numeric|String|Boolean|Timestamp))$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** JSON-pointer-ish place of a value inside a state, for messages. */
function keysWithDollar(value: unknown, at: string): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysWithDollar(v, `${at}[${i}]`));
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.endsWith('.$') ? [`${at}.${k}`] : keysWithDollar(v, `${at}.${k}`),
  );
}

function checkState(
  name: string,
  state: AslState,
  ql: QueryLanguageName,
  localEngine: boolean,
): QueryLanguageProblem[] {
  const out: QueryLanguageProblem[] = [];
  const problem = (message: string) => out.push({ state: name, message });
  const has = (k: string) => Object.hasOwn(state, k);
  if (ql === 'JSONata') {
    for (const field of JSONPATH_ONLY) {
      if (has(field))
        problem(`${field} is a JSONPath field; a JSONata state uses Arguments, Output or a {% %} expression`);
    }
    for (const ref of keysWithDollar(state.Arguments, 'Arguments')) {
      problem(`${ref}: keys ending in .$ are JSONPath; in JSONata write the value as "{% expression %}"`);
    }
    for (const ref of keysWithDollar(state.Assign, 'Assign')) {
      problem(`${ref}: keys ending in .$ are JSONPath; in JSONata write the value as "{% expression %}"`);
    }
    (state.Choices ?? []).forEach((rule, i) => {
      const jsonPathKeys = Object.keys(rule).filter((k) => JSONPATH_RULE.test(k));
      if (jsonPathKeys.length > 0 || !Object.hasOwn(rule, 'Condition')) {
        problem(
          `Choices[${i}] is a JSONPath rule (${jsonPathKeys.join(', ') || 'no Condition'}); a JSONata Choice rule is { "Condition": "{% … %}", "Next": … }`,
        );
      }
    });
    (state.Catch ?? []).forEach((c, i) => {
      if (Object.hasOwn(c, 'ResultPath')) problem(`Catch[${i}].ResultPath is a JSONPath field; use Output`);
    });
    for (const [field, inner] of [
      ['ItemReader', state.ItemReader],
      ['ResultWriter', state.ResultWriter],
    ] as const) {
      if (isObject(inner) && Object.hasOwn(inner, 'Parameters'))
        problem(`${field}.Parameters is JSONPath; use ${field}.Arguments`);
    }
  } else {
    for (const field of JSONATA_ONLY) {
      if (has(field)) {
        problem(
          `${field} is a JSONata field, but the state runs JSONPath (set "QueryLanguage": "JSONata" on the state or the state machine, or use ${JSONPATH_FORM[field]})`,
        );
      }
    }
    (state.Choices ?? []).forEach((rule, i) => {
      if (Object.hasOwn(rule, 'Condition')) {
        problem(
          `Choices[${i}].Condition is a JSONata rule, but the state runs JSONPath (use Variable and a comparison)`,
        );
      }
    });
    (state.Catch ?? []).forEach((c, i) => {
      if (Object.hasOwn(c, 'Output')) problem(`Catch[${i}].Output is a JSONata field; use ResultPath`);
    });
    for (const [field, inner] of [
      ['ItemReader', state.ItemReader],
      ['ResultWriter', state.ResultWriter],
    ] as const) {
      if (isObject(inner) && Object.hasOwn(inner, 'Arguments'))
        problem(`${field}.Arguments is JSONata; use ${field}.Parameters`);
    }
  }
  if (localEngine && has('Credentials')) {
    problem('Credentials (a cross-account role for the Task) is not supported by the local engine');
  }
  return out;
}

/**
 * Every query-language problem of a definition, Map processors and Parallel branches included, in the order
 * of the file. States inherit the top-level `QueryLanguage` (default JSONPath); a state may raise JSONPath to
 * JSONata, never the reverse.
 */
export function queryLanguageProblems(
  definition: AslDefinition,
  options: { readonly localEngine?: boolean } = {},
): QueryLanguageProblem[] {
  const out: QueryLanguageProblem[] = [];
  const top = definition.QueryLanguage;
  if (top !== undefined && !LANGUAGES.includes(top as string)) {
    out.push({
      state: '',
      message: `QueryLanguage must be "JSONPath" or "JSONata", got ${JSON.stringify(top)}`,
    });
    return out;
  }
  const root: QueryLanguageName = top === 'JSONata' ? 'JSONata' : 'JSONPath';
  const visit = (def: AslDefinition, nested: string | undefined) => {
    if (nested && Object.hasOwn(def, 'QueryLanguage')) {
      out.push({
        state: nested,
        message: `QueryLanguage is read at the top of the state machine and on states, not in ${nested}'s ItemProcessor/Branches; set it on the states`,
      });
    }
    for (const [name, state] of Object.entries(def.States ?? {})) {
      if (!isObject(state)) continue;
      let ql = root;
      if (Object.hasOwn(state, 'QueryLanguage')) {
        const own = state.QueryLanguage;
        if (!LANGUAGES.includes(own as string)) {
          out.push({
            state: name,
            message: `QueryLanguage must be "JSONPath" or "JSONata", got ${JSON.stringify(own)}`,
          });
          continue;
        }
        if (root === 'JSONata' && own === 'JSONPath') {
          out.push({
            state: name,
            message:
              'QueryLanguage "JSONPath" on a state of a JSONata state machine is not allowed (a state may only raise JSONPath to JSONata)',
          });
          continue;
        }
        ql = own as QueryLanguageName;
      }
      out.push(...checkState(name, state, ql, options.localEngine ?? false));
      const children = [
        state.ItemProcessor,
        state.Iterator,
        ...(Array.isArray(state.Branches) ? state.Branches : []),
      ];
      for (const child of children) if (isObject(child)) visit(child as AslDefinition, name);
    }
  };
  visit(definition, undefined);
  return out;
}

/**
 * Throws, naming the file and each state, when a definition breaks a query-language rule.
 * @param options.localEngine also refuse what only the local engine cannot run (`Credentials`)
 */
export function assertQueryLanguage(
  source: string,
  definition: AslDefinition,
  options: { readonly localEngine?: boolean } = {},
): void {
  const problems = queryLanguageProblems(definition, options);
  if (problems.length === 0) return;
  throw new Error(
    `${source}: query language:\n${problems
      .map((p) => `  ${p.state ? `state '${p.state}'` : 'top level'}: ${p.message}`)
      .join('\n')}`,
  );
}
