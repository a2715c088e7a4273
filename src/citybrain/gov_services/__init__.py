"""Online government services (政务服务"一网通办"): service items, applications, workflows, instant approval, e-licences."""
