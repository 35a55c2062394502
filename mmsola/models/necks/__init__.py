from .projection_pool import ProjectionPoolNeck

__all__ = ['ProjectionPoolNeck']
