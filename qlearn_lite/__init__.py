"""qlearn_lite: the code behind the qlearn-lite notebook course on Q-learning.

One module per idea, in the order the course teaches it:

================================  =============================================
``qlearn_lite.utils``             seeds, devices, budgets, the env factory (00)
``qlearn_lite.course``            the map of the course (00)
``qlearn_lite.quiz``              self-check quizzes (00 on)
``qlearn_lite.tabular``           value iteration, Q-learning, SARSA (01-03)
``qlearn_lite.plotting``          figures for the tabular notebooks (01-03)
``qlearn_lite.widgets``           an interactive Q-learning explorer (03)
``qlearn_lite.stats``             bootstrap intervals over seeds (02 on)
``qlearn_lite.exercises``         the exercises' checkers (01 on)
``qlearn_lite.replay``            the replay buffer; n-step returns (04-05)
``qlearn_lite.dqn``               Q-networks, TD loss, target networks (05-06)
``qlearn_lite.parallel``          the one parallel core: contexts, runners (07 on)
``qlearn_lite.parallel_demos``    small workers that show the runners (07)
``qlearn_lite.async_threads``     asynchronous Q-learning, threads or processes
                                  (07-08)
``qlearn_lite.envs``              CostlyEnv: a step of known cost (08, 11)
``qlearn_lite.process_costs``     what crossing a process boundary costs (08)
``qlearn_lite.actor_learner``     actor-learner DQN with an experience queue (08)
``qlearn_lite.vec_envs``          batched envs as tensors (09)
``qlearn_lite.vectorized``        batched tabular Q-learning (09)
``qlearn_lite.vectorized_dqn``    DQN with envs, replay and networks on one
                                  device (09)
``qlearn_lite.prioritized``       prioritized replay on a sum tree (10-11)
``qlearn_lite.distributed``       Ray: connect, a sharded parameter server,
                                  Ape-X-style DQN (10)
``qlearn_lite.scaling``           one harness for every executor; a scaling
                                  model (11)
================================  =============================================

Modules are imported on demand (``from qlearn_lite import tabular``) so that
``import qlearn_lite`` stays fast.
"""

__version__ = "0.1.0"
