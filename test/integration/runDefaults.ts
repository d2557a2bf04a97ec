// What a session always hands runTests from the settings, at the settings' defaults, for tests that call
// runTests directly.
import type { RunOptions } from '../../src/core/run/run';
import { runOptions } from '../../src/core/run/session';
import { DEFAULT_SETTINGS } from '../../src/core/settings';

const { defaultRanks, cores } = runOptions(DEFAULT_SETTINGS);
export const SETTING_DEFAULTS: Pick<RunOptions, 'defaultRanks' | 'cores'> = { defaultRanks, cores };
