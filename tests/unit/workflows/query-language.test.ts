import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { LocalOrchestrator } from '../../../infra/local/engine/orchestrator.ts';
import { loadWorkflows, type Workflow } from '../../../infra/local/engine/workflows.ts';

/*
 * What the engine would misrun is refused at load, naming the file and the state: an unknown QueryLanguage, a
 * JSONPath state in a JSONata machine, a field of the other language, JSONata Choice rules in JSONPath and the
 * reverse, and (on the local engine) Credentials. Valid mixes load.
 */

const tmp = mkdtempSync(join(tmpdir(), 'wflo-ql-'));
/** asl-validator compiles its schemas on first use: seconds on a busy machine. */
const VALIDATES = 60_000;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Loads one definition through the file loader (`wflo dev`'s path), from a folder of its own. */
function load(definition: object) {
  const dir = mkdtempSync(join(tmp, 'case-'));
  writeFileSync(join(dir, 'case.asl.json'), JSON.stringify(definition));
  return () => loadWorkflows(dir);
}

const pass = (extra: object = {}) => ({ Type: 'Pass', End: true, ...extra });

describe('Query languages: refused at load with the file and the state named', () => {
  it.each([
    [
      'an unknown top-level QueryLanguage',
      { QueryLanguage: 'XPath', StartAt: 'A', States: { A: pass() } },
      /case\.asl\.json: query language:\n {2}top level: QueryLanguage must be "JSONPath" or "JSONata", got "XPath"/,
    ],
    [
      'an unknown state QueryLanguage',
      { StartAt: 'A', States: { A: pass({ QueryLanguage: 'jsonata' }) } },
      /case\.asl\.json: query language:\n {2}state 'A': QueryLanguage must be "JSONPath" or "JSONata", got "jsonata"/,
    ],
    [
      'a JSONPath state in a JSONata state machine',
      { QueryLanguage: 'JSONata', StartAt: 'A', States: { A: pass({ QueryLanguage: 'JSONPath' }) } },
      /state 'A': QueryLanguage "JSONPath" on a state of a JSONata state machine is not allowed/,
    ],
    [
      'Output in a JSONPath state',
      { StartAt: 'A', States: { A: pass({ Output: { x: 1 } }) } },
      /state 'A': Output is a JSONata field, but the state runs JSONPath/,
    ],
    [
      'Arguments in a JSONPath state',
      {
        StartAt: 'A',
        States: {
          A: {
            Type: 'Parallel',
            Arguments: {},
            Branches: [{ StartAt: 'B', States: { B: pass() } }],
            End: true,
          },
        },
      },
      /state 'A': Arguments is a JSONata field/,
    ],
    [
      'InputPath, Parameters and ResultPath in a JSONata state (each named)',
      {
        QueryLanguage: 'JSONata',
        StartAt: 'A',
        States: { A: pass({ InputPath: '$.x', Parameters: { a: 1 }, ResultPath: '$.y' }) },
      },
      /state 'A': InputPath is a JSONPath field[^\n]*\n {2}state 'A': Parameters is a JSONPath field[^\n]*\n {2}state 'A': ResultPath is a JSONPath field/,
    ],
    [
      'ResultSelector in a JSONata Parallel',
      {
        QueryLanguage: 'JSONata',
        StartAt: 'P',
        States: {
          P: {
            Type: 'Parallel',
            ResultSelector: { a: 1 },
            Branches: [{ StartAt: 'B', States: { B: pass() } }],
            End: true,
          },
        },
      },
      /state 'P': ResultSelector is a JSONPath field/,
    ],
    [
      'a JSONPath Choice rule in a JSONata state',
      {
        StartAt: 'C',
        States: {
          C: {
            Type: 'Choice',
            QueryLanguage: 'JSONata',
            Choices: [{ Variable: '$.x', IsPresent: true, Next: 'D' }],
            Default: 'D',
          },
          D: pass(),
        },
      },
      /state 'C': Choices\[0\] is a JSONPath rule \(Variable, IsPresent\)/,
    ],
    [
      'a JSONata Condition in a JSONPath Choice',
      {
        StartAt: 'C',
        States: {
          C: { Type: 'Choice', Choices: [{ Condition: '{% true %}', Next: 'D' }], Default: 'D' },
          D: pass(),
        },
      },
      /state 'C': Choices\[0\]\.Condition is a JSONata rule/,
    ],
    [
      'a .$ key in JSONata Arguments, inside a Map processor',
      {
        QueryLanguage: 'JSONata',
        StartAt: 'M',
        States: {
          M: {
            Type: 'Map',
            ItemProcessor: {
              StartAt: 'Inner',
              States: {
                Inner: {
                  Type: 'Parallel',
                  Arguments: { 'v.$': '$.v' },
                  Branches: [{ StartAt: 'B', States: { B: pass() } }],
                  End: true,
                },
              },
            },
            End: true,
          },
        },
      },
      /state 'Inner': Arguments\.v\.\$: keys ending in \.\$ are JSONPath/,
    ],
    [
      'Catch ResultPath in a JSONata state',
      {
        QueryLanguage: 'JSONata',
        StartAt: 'P',
        States: {
          P: {
            Type: 'Parallel',
            Branches: [{ StartAt: 'B', States: { B: pass() } }],
            Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.err', Next: 'D' }],
            End: true,
          },
          D: pass(),
        },
      },
      /state 'P': Catch\[0\]\.ResultPath is a JSONPath field; use Output/,
    ],
  ])(
    'refuses %s',
    (_what, definition, message) => {
      expect(load(definition)).toThrow(message);
    },
    VALIDATES,
  );

  it(
    'loads JSONata with Assign and Output, and a JSONPath machine whose state opts into JSONata',
    () => {
      // Prepare
      const jsonata = load({
        QueryLanguage: 'JSONata',
        StartAt: 'A',
        States: { A: pass({ Assign: { n: '{% 1 %}' }, Output: '{% $n %}' }) },
      });
      const mixed = load({
        StartAt: 'A',
        States: {
          A: pass({ QueryLanguage: 'JSONata', Output: '{% $states.input %}', Next: 'B', End: undefined }),
          B: pass({ ResultPath: '$.b' }),
        },
      });

      // Act / Assess
      expect(jsonata().get('case')?.definition.QueryLanguage).toBe('JSONata');
      expect([...mixed().keys()]).toEqual(['case']);
    },
    VALIDATES,
  );
});

describe('Local engine: what it cannot run is refused when the workflow is loaded', () => {
  const workflow = (definition: object): Workflow => ({
    name: 'cross-account',
    description: '',
    file: 'statemachines/cross-account.asl.json',
    definition: definition as never,
    variables: [],
  });
  const engine = (wf: Workflow) =>
    new LocalOrchestrator({
      workflows: new Map([[wf.name, wf]]),
      functions: new Map(),
      // Loading reads no store.
      store: {} as Store,
    });

  it('refuses Credentials (a cross-account role), naming the file and the state', () => {
    const wf = workflow({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sqs:sendMessage',
          Credentials: { RoleArn: 'arn:aws:iam::111122223333:role/other' },
          Parameters: { QueueUrl: 'q', MessageBody: 'm' },
          End: true,
        },
      },
    });
    expect(() => engine(wf)).toThrow(
      /statemachines\/cross-account\.asl\.json: query language:\n {2}state 'Call': Credentials .* not supported by the local engine/,
    );
  });

  it('refuses a definition built in code (no file check) with the same rules', () => {
    const wf = workflow({
      QueryLanguage: 'JSONata',
      StartAt: 'A',
      States: { A: pass({ OutputPath: '$.x' }) },
    });
    expect(() => engine(wf)).toThrow(/state 'A': OutputPath is a JSONPath field/);
  });
});
