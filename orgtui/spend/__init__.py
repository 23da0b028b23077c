"""Spend: model tokens and money per seat, beside GPU-hours, and budgets that act."""
