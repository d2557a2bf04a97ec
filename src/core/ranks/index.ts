export { encodeRecord, FRAME_CHUNK_CHARS, FRAME_PREFIX, FrameDecoder, newFrameToken, parseRecord } from './frames';
export { RankStreams, type RankLine, type RankStreamsOptions, type StreamName, type TagStyle } from './demux';
export { aggregate, rankList, type ExpectedTest, type LaunchOutcome } from './aggregate';
export { describeLauncherFailure, parseLauncherFailure, type LauncherFailure } from './launcherFailure';
