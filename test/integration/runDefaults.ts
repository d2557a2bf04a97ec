// What a session always hands runTests from the settings, at the settings' defaults, for tests that call
// runTests directly.
import type { RunOptions } from '../../src/core/run/run';
import { DEFAULT_SETTINGS } from '../../src/core/settings';

export const SETTING_DEFAULTS: Pick<RunOptions, 'defaultRanks' | 'cores'> = { defaultRanks: DEFAULT_SETTINGS.mpiDefaultRanks, cores: DEFAULT_SETTINGS.cores };
