"""Scale-up prediction: the best parameters and objective at a cost no trial reached.

- `predict.py`: the prediction itself (`predict_scale_up`, and `scale_up_prediction`, the
  one status.scaleUp and the metrics show), pure.
- `frontier_laws.py`: its fallback where no joint law can be fitted: each parameter on the
  frontier's own law, held to the target cost by the trials' cost line.

The laws both follow are the study's one law fit (`carbs_operator.study_laws`), the fit
`status.scalingLaws` shows. `carbs predict`, the command, is `carbs_operator.predict_command`.
"""
