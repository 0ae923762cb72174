import { startStack } from '../local-stack/stack.ts';
import { endToEnd } from './e2e-suite.ts';

endToEnd(() => startStack({ deliveryNodes: 2 }));
