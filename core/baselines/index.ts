/** The baselines DLion is compared with (DESIGN.md 3.6): their exchange and gate policies. */

export {
  type AkoPartitionInput,
  type AkoSend,
  type AkoState,
  akoPartitionCount,
  akoSetPartitionCount,
  akoStep,
  createAkoState,
  type ParamRange,
  partitionLayers,
} from './ako';
export { averageUpdates, bspWeight, bspWeights, weightedSum } from './bsp';
export {
  createGaiaState,
  GAIA_INITIAL_THRESHOLD,
  GAIA_WEIGHT_FLOOR,
  type GaiaMessage,
  type GaiaState,
  gaiaAccumulate,
  gaiaSelect,
  gaiaThreshold,
} from './gaia';
export { type HopGateDecision, type HopGateInput, hopReady, hopSkip } from './hop';
